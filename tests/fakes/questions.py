"""The core's real question flow for the adapters' hand-written fake services, remembering in memory."""

from __future__ import annotations

import threading

from digest_core.models import Answer
from digest_core.ports import DigestAPI
from digest_core.questions import IncomingQuestion, QuestionFlow, Verdict
from digest_core.store import Store


class RealQuestionFlow:
    """Mixin: `take_question`, `answer_question` and `question_answered` of `DigestAPI`, run by the real
    `QuestionFlow` over the fake's own `locate`, `allow_question` and `answer`, on an in-memory database."""

    _question_flow: QuestionFlow | None = None
    _flow_lock = threading.Lock()  # listeners run in worker threads: one flow, one memory, per fake

    def _flow(self) -> QuestionFlow:
        with self._flow_lock:
            return self._flow_locked()

    def _flow_locked(self) -> QuestionFlow:
        if self._question_flow is None:
            service: DigestAPI = self  # type: ignore[assignment]  # the fake service using the mixin
            self._question_flow = QuestionFlow(service, Store(":memory:"))
        return self._question_flow

    def take_question(self, question: IncomingQuestion) -> Verdict:
        return self._flow().take(question)

    def answer_question(self, verdict: Verdict) -> Answer:
        return self._flow().answer(verdict)

    def question_answered(self, verdict: Verdict, reply_id: str = "") -> None:
        self._flow().delivered(verdict, reply_id)
