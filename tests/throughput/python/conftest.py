"""Native tests of the throughput source: the component bindings on the path."""

from weir_guest.testing import install_bindings

install_bindings()
