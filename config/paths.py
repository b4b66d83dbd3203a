"""Where Sundown lives and where it keeps its files (var/: SQLite, the file broker, keys
in development), shared by the settings modules."""

from pathlib import Path

from config.env import env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("SUNDOWN_VAR_DIR", str(BASE_DIR / "var")))
