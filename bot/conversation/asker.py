"""Who is asking, as every surface must tell the core: agent or customer, and for which tenant.

A surface works it out by its own rules (Slack: teams, user groups, shared channels) and must
fail closed: when it cannot tell, the asker is a customer, and a customer without a tenant is
not `allowed` to look anything up.
"""

from __future__ import annotations

from dataclasses import dataclass

AGENT, CUSTOMER = "agent", "customer"


@dataclass(frozen=True, slots=True)
class Asker:
    user: str
    audience: str
    #: None only for agents: every tenant. A customer always has one, or `allowed` is False.
    tenant: str | None
    allowed: bool
    #: The language the surface knows the person by (Slack's user locale), if any.
    locale: str | None = None
    external_channel: bool = False
    why: str = ""

    @property
    def agent(self) -> bool:
        return self.audience == AGENT
