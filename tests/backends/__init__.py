"""One module per backend the test suite runs against (see tests/conftest.py)."""
