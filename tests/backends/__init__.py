import pytest

# The shared provider suite lives outside a test_ module: have pytest explain its asserts.
pytest.register_assert_rewrite("tests.backends.contract")
