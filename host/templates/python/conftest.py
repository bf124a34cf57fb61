"""Native tests: the component bindings on the path (`weir_guest.testing`)."""

from weir_guest.testing import install_bindings

install_bindings()
