"""Settings of the local web page: where it listens and how large a request may be."""

from __future__ import annotations

import ipaddress

from pydantic import BaseModel, ConfigDict, Field, model_validator

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


class WebConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field("127.0.0.1", description="Address to bind; only loopback unless `allow_remote`.")
    port: int = Field(7860, ge=0, le=65535, description="TCP port; 0 picks a free one.")
    allow_remote: bool = Field(False, description="Allow a non-loopback host: anyone who reaches it can use the page.")
    max_question_chars: int = Field(500, gt=0, description="Longest question accepted (CSQA stems are < 300).")
    max_choice_chars: int = Field(200, gt=0, description="Longest answer choice accepted.")
    max_choices: int = Field(10, ge=2, description="Most answer choices per question.")
    max_concept_chars: int = Field(100, gt=0, description="Longest concept name the graph browser looks up.")
    max_body_bytes: int = Field(65536, gt=0, description="Larger request bodies are refused before parsing (413).")
    neighbourhood_edges: int = Field(25, gt=0, description="Edges drawn and listed around a concept.")
    max_waiting: int = Field(64, gt=0, description="Questions queued for the model at once; more get 503 'busy'.")

    @model_validator(mode="after")
    def _loopback_unless_allowed(self) -> WebConfig:
        if not self.allow_remote and not is_loopback(self.host):
            raise ValueError(f"`host` {self.host!r} is not a loopback address: the page would be reachable from "
                             f"other machines. Pass --allow-remote to do that on purpose, or use 127.0.0.1")
        return self


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it may resolve to anything
