"""The test suite, a package so that helper modules are imported as tests.helpers etc."""
