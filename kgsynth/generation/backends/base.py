"""The interface every note writer implements.

A backend does two independent things: ``write`` produces tagged note text for a
prompt under the instance's constraint, and ``extract`` reads the plain text back and
returns relations between the note's entities. The engine never trusts either: it
aligns the tags itself and validates the record.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod

from pydantic import BaseModel, Field

from kgsynth.cypher.instance import MotifInstance
from kgsynth.generation.prompt import Prompt
from kgsynth.generation.record import Entity, NoteRelation


class Draft(BaseModel):
    """What a writer returned: tagged text and what it cost."""

    tagged: str
    #: Mean token log-probability under the writer, where it can tell (``--best-of`` keeps the highest).
    mean_logprob: float | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class Extraction(BaseModel):
    relations: list[NoteRelation] = Field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


class Backend(ABC):
    """A note writer; ``name``/``model`` go into every record it makes."""

    name: str = ""
    model: str = ""

    def decoding(self) -> dict[str, object]:
        """Decoding settings recorded in each note."""
        return {}

    @abstractmethod
    def write(self, instance: MotifInstance, prompt: Prompt, seed: int) -> Draft:
        """Tagged note text for ``prompt`` (see :mod:`kgsynth.generation.tags`)."""

    @abstractmethod
    def extract(self, text: str, entities: list[Entity], note_type: str, seed: int) -> Extraction:
        """Relations the plain ``text`` states between ``entities`` (by entity id)."""

    async def awrite(self, instance: MotifInstance, prompt: Prompt, seed: int) -> Draft:
        """Async ``write``; local backends run it inline (they use every core already)."""
        return self.write(instance, prompt, seed)

    async def aextract(self, text: str, entities: list[Entity], note_type: str, seed: int) -> Extraction:
        return self.extract(text, entities, note_type, seed)

    async def aclose(self) -> None:
        await asyncio.sleep(0)
