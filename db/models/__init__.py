"""All models, imported so metadata is complete for Alembic and the app."""
from db.models.accounts import Account, AccountSettings, ApiToken, PsaConnection, User
from db.models.jobs import Batch, Job, Preview
from db.models.sessions import AiSession, SessionFact, SessionSuggestedFix
from db.models.templates import DraftTemplate, ScriptTemplate

__all__ = [
    "Account",
    "AccountSettings",
    "AiSession",
    "ApiToken",
    "Batch",
    "DraftTemplate",
    "Job",
    "Preview",
    "PsaConnection",
    "ScriptTemplate",
    "SessionFact",
    "SessionSuggestedFix",
    "User",
]
