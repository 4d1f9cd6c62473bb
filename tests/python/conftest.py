import pytest

import octavo


@pytest.fixture
def bundle_path(tmp_path):
    return str(tmp_path / "test.octavo")


@pytest.fixture
def bundle(bundle_path):
    b = octavo.open(bundle_path, "a")
    yield b
    b.close()
