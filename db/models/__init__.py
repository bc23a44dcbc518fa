"""All models, imported so metadata is complete for Alembic and the app."""
from db.models.accounts import Account, AccountSettings, ApiToken, PsaConnection, User
from db.models.jobs import Batch, Job, JobAttempt, Preview
from db.models.l1 import L1Category, L1Flow, L1InternalTicket, L1WalkSession
from db.models.llm_batches import LlmProviderBatch
from db.models.sessions import AiSession, SessionFact, SessionMessage, SessionSuggestedFix
from db.models.templates import DraftTemplate, ScriptTemplate

__all__ = [
    "Account",
    "AccountSettings",
    "AiSession",
    "ApiToken",
    "Batch",
    "DraftTemplate",
    "Job",
    "JobAttempt",
    "LlmProviderBatch",
    "Preview",
    "PsaConnection",
    "ScriptTemplate",
    "SessionFact",
    "SessionMessage",
    "SessionSuggestedFix",
    "User",
    "L1Category", "L1Flow", "L1InternalTicket", "L1WalkSession",
]
