"""The L1 workspace: flows, matching, intake, guided walks, internal tickets, escalations."""
