"""The SQL the raw-driver contenders send (qmark placeholders: sqlite3, aiosqlite, duckdb)."""

from __future__ import annotations

from bench import workload as w

DROP = f"DROP TABLE IF EXISTS {w.TABLE}"
CREATE = (
    f"CREATE TABLE {w.TABLE} (name TEXT NOT NULL, age INTEGER NOT NULL, email TEXT NOT NULL, id INTEGER PRIMARY KEY)"
)
INSERT = f"INSERT INTO {w.TABLE} (name, age, email) VALUES (?, ?, ?)"
SELECT = f"SELECT name, age, email, id FROM {w.TABLE}"
KEYS = f"SELECT id FROM {w.TABLE}"
BY_KEY = SELECT + " WHERE id = ?"
FILTERED = SELECT + " WHERE age > ? AND name LIKE ?"
FILTERED_ARGS = (w.E_MIN_AGE, w.E_PREFIX + "%")
UPDATE_SET = f"UPDATE {w.TABLE} SET email = ? WHERE age < ?"
LOAD = SELECT + " WHERE age BETWEEN ? AND ?"
SAVE = f"UPDATE {w.TABLE} SET name = ?, age = ?, email = ? WHERE id = ?"
DELETE_SET = f"DELETE FROM {w.TABLE} WHERE age BETWEEN ? AND ?"
COUNT = f"SELECT count(*) FROM {w.TABLE} WHERE age >= ?"
AGGREGATE = f"SELECT age, count(*), sum(id) FROM {w.TABLE} GROUP BY age ORDER BY age"
STREAM_BATCH = 1000
