"""The image statuses Glance knows (glance/db/sqlalchemy/models.py, glance/domain/__init__.py)."""

from __future__ import annotations

IMAGE_STATUSES = frozenset(
    {"queued", "saving", "active", "killed", "deleted", "pending_delete", "deactivated", "uploading", "importing"}
)
# an image still in one of these when the capture ends is stuck: its data never (fully) arrived
IN_PROGRESS = frozenset({"queued", "saving", "importing", "uploading"})
