def pytest_configure(config):
    config.addinivalue_line("markers", "fuzz: the property-based fuzz (needs TensorFlow in its worker; "
                                       "deselect with -m 'not fuzz')")
