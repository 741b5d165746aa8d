"""Property-based generation of recurrent and dense models (see README, "Fuzzing and reliability").

model.py       a configuration dataclass <-> a case name, the Keras source it builds, the Case
strategies.py  hypothesis strategies for configurations
profiles.py    the "ci" and "deep" hypothesis profiles
runner.py      running generated cases through the matrix's pipeline and recording failures
"""
