"""The project's own tests run with the no-network guard: any attempt to connect outside
loopback raises (set CONFORMANCE_NO_NETWORK=0 to lift it), so a test that touches the network fails."""
from conformance import guard

guard.install_from_env()
