import GRDB

/// The store's schema, as an ordered list of migrations. Never edit a shipped
/// migration: add a new one, so every existing store upgrades in place.
///
/// Natural keys (UNIQUE constraints) make every write an upsert, so a rerun,
/// a resumed run or a merge of shard stores can never duplicate a row:
///
/// | table | one row per | unique key |
/// | --- | --- | --- |
/// | `runs` | invocation of `nodules batch` | `uuid` |
/// | `patients` | patient | `(issuer, patient_id)` (`issuer` is `''` when unknown) |
/// | `studies` | patient × study date | `(patient, study_date)` |
/// | `images` | file content seen at a path | `(path, sha256)` |
/// | `analyses` | image × pipeline × spacing override | `(image, pipeline_digest, spacing_key)` |
/// | `detections` | candidate of an analysis | `(analysis, rank)` |
/// | `image_errors` | file that failed under a pipeline | `(path, pipeline_digest)` |
enum Schema {
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1: runs, patients, studies, images, analyses, detections, image_errors") { db in
            try db.execute(sql: """
                CREATE TABLE runs (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    uuid TEXT NOT NULL UNIQUE,
                    pipeline_name TEXT NOT NULL,
                    pipeline_version TEXT NOT NULL,
                    pipeline_digest TEXT NOT NULL,
                    parameters TEXT NOT NULL,            -- JSON: the pipeline definition and the batch options
                    tool_version TEXT NOT NULL,
                    input TEXT NOT NULL,
                    shard TEXT,                          -- "K/N" or NULL
                    started_at TEXT NOT NULL,            -- ISO 8601, UTC
                    ended_at TEXT,
                    status TEXT NOT NULL,                -- running | completed | completed-with-errors | interrupted
                    images_ok INTEGER NOT NULL DEFAULT 0,
                    images_resumed INTEGER NOT NULL DEFAULT 0,
                    images_failed INTEGER NOT NULL DEFAULT 0
                );
                CREATE TABLE patients (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    issuer TEXT NOT NULL DEFAULT '',
                    patient_id TEXT NOT NULL,
                    UNIQUE (issuer, patient_id)
                );
                CREATE TABLE studies (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    patient INTEGER NOT NULL REFERENCES patients(id) ON DELETE CASCADE,
                    study_date TEXT NOT NULL DEFAULT '',  -- YYYY-MM-DD, '' when unknown
                    UNIQUE (patient, study_date)
                );
                CREATE TABLE images (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    path TEXT NOT NULL,
                    sha256 TEXT NOT NULL,
                    byte_count INTEGER,
                    width INTEGER NOT NULL,
                    height INTEGER NOT NULL,
                    spacing_row_mm REAL,
                    spacing_column_mm REAL,
                    spacing_source TEXT NOT NULL,         -- tag:…, manifest, command-line, unknown
                    study INTEGER REFERENCES studies(id) ON DELETE SET NULL,
                    patient_source TEXT,                  -- manifest | file | folder
                    date_source TEXT,
                    file_patient_id TEXT,                 -- what the file itself says (DICOM), whatever won
                    file_patient_issuer TEXT,
                    file_study_date TEXT,
                    UNIQUE (path, sha256)
                );
                CREATE INDEX images_sha256 ON images(sha256);
                CREATE INDEX images_study ON images(study);
                CREATE TABLE analyses (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    image INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                    pipeline_name TEXT NOT NULL,
                    pipeline_version TEXT NOT NULL,
                    pipeline_digest TEXT NOT NULL,
                    spacing_key TEXT NOT NULL DEFAULT '', -- '' or the spacing that replaced the file's own
                    run INTEGER REFERENCES runs(id) ON DELETE SET NULL,
                    run_uuid TEXT,
                    warnings TEXT NOT NULL DEFAULT '[]',  -- JSON array of strings
                    completed_at TEXT NOT NULL,
                    UNIQUE (image, pipeline_digest, spacing_key)
                );
                CREATE INDEX analyses_key ON analyses(pipeline_digest, spacing_key);
                CREATE TABLE detections (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    analysis INTEGER NOT NULL REFERENCES analyses(id) ON DELETE CASCADE,
                    image INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
                    run INTEGER REFERENCES runs(id) ON DELETE SET NULL,
                    rank INTEGER NOT NULL,                -- 0 = highest score
                    x REAL NOT NULL,                      -- px of the input image
                    y REAL NOT NULL,
                    diameter_px REAL NOT NULL,
                    diameter_mm REAL,
                    score REAL NOT NULL,
                    features TEXT NOT NULL,               -- JSON object, the contract's feature names
                    UNIQUE (analysis, rank)
                );
                CREATE INDEX detections_image ON detections(image);
                CREATE TABLE image_errors (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    path TEXT NOT NULL,
                    sha256 TEXT,                          -- NULL when the bytes could not be read
                    pipeline_digest TEXT NOT NULL,
                    run INTEGER REFERENCES runs(id) ON DELETE SET NULL,
                    run_uuid TEXT,
                    code TEXT NOT NULL,                   -- e.g. decode.truncated, manifest.bad-date
                    message TEXT NOT NULL,
                    recorded_at TEXT NOT NULL,
                    UNIQUE (path, pipeline_digest)
                );
                """)
        }
        return migrator
    }
}
