# The stack these tests run against: EDGERUN_URL (and EDGERUN_TOKEN when it has one).
# tests/clients.test.mjs starts a local stack, installs this package and runs them.
import os

import pytest


@pytest.fixture(scope="session")
def url() -> str:
    url = os.environ.get("EDGERUN_URL")
    if not url:
        pytest.fail("EDGERUN_URL is not set: run these tests through tests/clients.test.mjs (npm test), or point it at `npm run dev`")
    return url


@pytest.fixture(scope="session")
def token():
    return os.environ.get("EDGERUN_TOKEN") or None
