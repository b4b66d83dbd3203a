"""The append-only, hash-chained audit trail.

Rows are only ever inserted through ``audit.services``; the database itself
refuses UPDATE, DELETE and TRUNCATE (see migration 0002).
"""

from django.db import models

from config.json_depth import BoundedJSONField


class ActorType(models.TextChoices):
    USER = "user", "User"
    TOKEN = "token", "API token"
    SYSTEM = "system", "System worker"
    ANONYMOUS = "anonymous", "Anonymous"


class AuditEvent(models.Model):
    """One audited change. ``seq`` is gap-free; ``hash`` chains to the previous event."""

    seq = models.BigIntegerField(primary_key=True)
    occurred_at = models.DateTimeField(help_text="Database clock at the time of the append.")
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True, default="")
    actor_name = models.CharField(max_length=200, help_text="Frozen at the time of the event.")
    source_ip = models.GenericIPAddressField(null=True, blank=True)
    # Indexed once, for LIKE 'prefix%' and equality alike (Meta; migration 0009).
    action = models.CharField(max_length=100)
    target_type = models.CharField(max_length=100, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_repr = models.CharField(max_length=300, blank=True, default="")
    # Plain integer, not a foreign key: the trail must outlive whatever it describes.
    agency_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    # Bounded: rows from before the API's depth limit read without a RecursionError.
    before = BoundedJSONField(null=True, blank=True)
    after = BoundedJSONField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True, default="")
    hash_version = models.PositiveSmallIntegerField(default=1)
    prev_hash = models.CharField(max_length=64)
    # Not unique and not indexed: nothing looks an event up by its hash, and two indexes
    # of random 64-character keys cost more on every append than anything else in it.
    # The seq primary key keeps the chain gap-free and fork-free (migration 0007; SQLite
    # keeps its old unique index, since altering the column there drops the triggers).
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["target_type", "target_id"], name="audit_target_idx"),
            models.Index(
                fields=["action"], name="audit_action_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self):
        return f"#{self.seq} {self.action} {self.target_repr}"


class ChainHead(models.Model):
    """Single row holding the last seq and hash; locked for every append."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="chainhead_single_row")
        ]

    def __str__(self):
        return f"head #{self.seq}"


class VerificationRun(models.Model):
    """Result of the last `audit_verify` runs, shown on the dashboard; append-only."""

    started_at = models.DateTimeField(auto_now_add=True)
    ok = models.BooleanField()
    events_checked = models.BigIntegerField()
    first_bad_seq = models.BigIntegerField(null=True, blank=True)
    message = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self):
        return f"{'ok' if self.ok else 'BROKEN'} at {self.started_at:%Y-%m-%d %H:%M}"


class SinkCursor(models.Model):
    """How far the audit trail has been shipped to one configured sink (SIEM export).

    ``after_seq`` moves only after the sink took a batch, so a crash or restart
    resumes where delivery stopped: nothing is skipped, and at most the batch in
    flight is sent again (its events carry their hash as uid for de-duplication).
    A shipper holds the cursor with a lease so two never ship the same sink at once.
    """

    sink = models.CharField(max_length=64, primary_key=True)
    after_seq = models.BigIntegerField(default=0)
    shipped_at = models.DateTimeField(null=True, blank=True)
    lease_owner = models.CharField(max_length=64, blank=True, default="")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Failed tries in a row.")
    last_error = models.TextField(blank=True, default="")
    last_error_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(after_seq__gte=0), name="sinkcursor_seq_ok")
        ]

    def __str__(self):
        return f"{self.sink} after #{self.after_seq}"


class TreeNode(models.Model):
    """Hash of one complete, aligned subtree of the RFC 6962 tree over the events.

    Node (level, index) covers leaves ``index * 2**level`` up to ``(index + 1) * 2**level``.
    Only levels from ``audit.tree.TILE_LEVEL`` up are stored: anything smaller is
    rehashed from the events on demand (at most a few hundred leaves per proof), so
    the table stays near 1/128 of the event count and never sits on the append path.
    Append-only, like the events.
    """

    level = models.PositiveSmallIntegerField()
    index = models.BigIntegerField()
    hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["level", "index"], name="audit_treenode_unique")
        ]

    def __str__(self):
        return f"node {self.level}/{self.index}"


class Checkpoint(models.Model):
    """A signed C2SP tlog-checkpoint of the tree at ``size`` events; append-only.

    ``note`` is the whole signed note exactly as shipped to the sinks, so it can be
    checked with nothing but the verifier key.
    """

    created_at = models.DateTimeField(auto_now_add=True)
    size = models.BigIntegerField()
    root_hash = models.BinaryField(max_length=32)
    note = models.TextField()

    class Meta:
        ordering = ["-size", "-id"]
        indexes = [models.Index(fields=["size"], name="audit_checkpoint_size_idx")]

    def __str__(self):
        return f"checkpoint at size {self.size}"
