from __future__ import annotations

from typing import Any

import pytest

from piazza.petitions import actions
from piazza.petitions.models import Petition
from piazza.territory.models import Role
from piazza.territory.testing import make_official


@pytest.fixture
def comms(tree: Any) -> Any:
    """A communication officer of the Bologna federation."""
    return make_official("comunicazione.bologna", tree.bologna, [Role.COMMUNICATION])


@pytest.fixture
def petition(tree: Any, comms: Any) -> Petition:
    return actions.create_petition(
        actor=comms,
        territory=tree.bologna,
        title="Più autobus notturni a Bologna",
        text="Chiediamo al Comune più corse notturne nei quartieri.",
        target="Sindaco di Bologna",
        goal=500,
    )
