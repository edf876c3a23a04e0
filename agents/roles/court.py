"""The court: the market's top of the appeal chain, fixed at deployment and assumed honest and live. It
follows every deal of the market (any of them may be disputed), re-runs the job of each deal put before it
(a client's dispute, an appeal against a verdict, a silent validator's escalation) and rules, for one bond."""

from __future__ import annotations

from agents.policy import Dialogue
from agents.protocol import Performative, Status
from agents.roles.judge import JudgeAgent
from agents.runtime.feed import RequestAudience


class CourtAgent(JudgeAgent):
    answer = Performative.RULING
    request_audience = RequestAudience.EVERY

    def takes_part(self, requested: dict) -> bool:
        return requested["request"]["token"] == self.connection.deployment.token

    def must_judge(self, dialogue: Dialogue) -> bool:
        return dialogue.status == Status.DISPUTED
