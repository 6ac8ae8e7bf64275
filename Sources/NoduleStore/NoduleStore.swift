import Foundation
import GRDB
import NoduleDetection

/// The SQLite results store of `nodules batch` (GRDB), with its migrations,
/// the resume look-ups, the tracker's query and the shard merge.
///
/// One `DatabaseQueue` owns the connection and serialises every access, so the
/// store is safe to share; `nodules batch` still writes from a single serial
/// queue. Every save is one transaction. The database runs in WAL mode, so a
/// process killed mid-write leaves the last committed image intact.
public final class NoduleStore: Sendable {
    /// The database file.
    public let path: String
    let queue: DatabaseQueue

    /// Opens (creating if needed) the store at `path` and migrates it to the current schema.
    public init(path: String) throws {
        self.path = path
        var configuration = Configuration()
        configuration.journalMode = .wal
        configuration.busyMode = .timeout(10)
        do {
            queue = try DatabaseQueue(path: path, configuration: configuration)
            try Schema.migrator.migrate(queue)
        } catch let error as DatabaseError {
            throw StoreError.cannotOpen(path: path, reason: error.message ?? "\(error)")
        }
    }

    /// The names of the migrations applied, oldest first.
    public func appliedMigrations() throws -> [String] {
        try queue.read { db in try Schema.migrator.appliedMigrations(db) }
    }

    /// Row counts of every table, by table name.
    public func counts() throws -> [String: Int] {
        try queue.read { db in
            var out: [String: Int] = [:]
            for table in ["runs", "patients", "studies", "images", "analyses", "detections", "image_errors"] {
                out[table] = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \(table)") ?? 0
            }
            return out
        }
    }

    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: Date())
    }
}

/// Why the store could not be used.
public enum StoreError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotOpen(path: String, reason: String)
    /// A merge was asked to read the store it writes.
    case mergeIntoItself(path: String)
    case notFound(path: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let reason): "\(path): cannot open the store (\(reason))"
        case .mergeIntoItself(let path): "\(path): cannot merge a store into itself"
        case .notFound(let path): "\(path): no such store"
        }
    }
}

// MARK: - Runs

/// What a run was asked to do; stored in `runs`.
public struct RunDescription: Sendable, Equatable {
    public var uuid: String
    public var pipeline: PipelineStamp
    /// JSON of the parameters (pipeline definition, options) that reproduce the run.
    public var parameters: String
    public var toolVersion: String
    public var input: String
    public var shard: String?

    public init(uuid: String = UUID().uuidString.lowercased(), pipeline: PipelineStamp, parameters: String,
                toolVersion: String, input: String, shard: String? = nil) {
        self.uuid = uuid
        self.pipeline = pipeline
        self.parameters = parameters
        self.toolVersion = toolVersion
        self.input = input
        self.shard = shard
    }
}

/// A run row's identity, passed back to every save of that run.
public struct RunHandle: Sendable, Equatable {
    public var id: Int64
    public var uuid: String
}

public enum RunStatus: String, Sendable, CaseIterable {
    case running
    case completed
    case completedWithErrors = "completed-with-errors"
    /// A run still marked `running` when a later run started: it was killed.
    case interrupted
}

extension NoduleStore {
    /// Records the start of a run. Runs left `running` by a killed process are marked `interrupted`
    /// (one process writes a store at a time).
    public func beginRun(_ run: RunDescription) throws -> RunHandle {
        try queue.write { db in
            try db.execute(sql: "UPDATE runs SET status = ? WHERE status = ?",
                           arguments: [RunStatus.interrupted.rawValue, RunStatus.running.rawValue])
            try db.execute(sql: """
                INSERT INTO runs (uuid, pipeline_name, pipeline_version, pipeline_digest, parameters, tool_version,
                                  input, shard, started_at, status)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [run.uuid, run.pipeline.name, run.pipeline.version, run.pipeline.digest, run.parameters,
                                 run.toolVersion, run.input, run.shard, Self.now(), RunStatus.running.rawValue])
            return RunHandle(id: db.lastInsertedRowID, uuid: run.uuid)
        }
    }

    /// Records the end of a run with its counts.
    public func endRun(_ run: RunHandle, status: RunStatus, ok: Int, resumed: Int, failed: Int) throws {
        try queue.write { db in
            try db.execute(sql: """
                UPDATE runs SET ended_at = ?, status = ?, images_ok = ?, images_resumed = ?, images_failed = ? WHERE id = ?
                """, arguments: [Self.now(), status.rawValue, ok, resumed, failed, run.id])
        }
    }

    /// `(uuid, status)` of every run, oldest first.
    public func runs() throws -> [(uuid: String, status: String)] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT uuid, status FROM runs ORDER BY id").map { ($0["uuid"], $0["status"]) }
        }
    }
}

// MARK: - Saving results

/// The resume key of a result: content, pipeline and any spacing that replaced the file's own.
public struct AnalysisKey: Sendable, Hashable {
    public var sha256: String
    public var pipelineDigest: String
    /// `""` when the file's own spacing was used; otherwise the spacing that replaced it (e.g. `0.35x0.35`).
    public var spacingKey: String

    public init(sha256: String, pipelineDigest: String, spacingKey: String) {
        self.sha256 = sha256
        self.pipelineDigest = pipelineDigest
        self.spacingKey = spacingKey
    }
}

/// Patient and study date as the file itself carries them (e.g. DICOM tags), kept
/// with the content so a resumed image resolves its identity as a computed one does.
public struct FileIdentity: Sendable, Equatable {
    public var patientID: String?
    public var patientIssuer: String?
    /// `YYYY-MM-DD`.
    public var studyDate: String?
    public init(patientID: String? = nil, patientIssuer: String? = nil, studyDate: String? = nil) {
        self.patientID = patientID
        self.patientIssuer = patientIssuer
        self.studyDate = studyDate
    }
}

/// Physical spacing stored beside an image (row, column), mm.
public struct StoredSpacing: Sendable, Equatable {
    public var rowMM: Double
    public var columnMM: Double
    public init(rowMM: Double, columnMM: Double) {
        self.rowMM = rowMM
        self.columnMM = columnMM
    }
}

extension NoduleStore {
    /// Every resume key already analysed under `pipelineDigest`.
    public func analysedKeys(pipelineDigest: String) throws -> Set<AnalysisKey> {
        try queue.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT DISTINCT i.sha256, a.spacing_key FROM analyses a JOIN images i ON i.id = a.image
                WHERE a.pipeline_digest = ?
                """, arguments: [pipelineDigest])
            var keys = Set<AnalysisKey>()
            while let row = try rows.next() {
                keys.insert(AnalysisKey(sha256: row[0], pipelineDigest: pipelineDigest, spacingKey: row[1]))
            }
            return keys
        }
    }

    /// Saves one image's successful result in a single transaction: patient, study,
    /// image, analysis and detections, and clears any earlier error for the path.
    ///
    /// With `replace` (a fresh computation or `--force`) an existing analysis with the
    /// same key is replaced; without it (a resumed image) an existing analysis is kept
    /// and only the image's identity is updated.
    public func save(_ record: DetectionRecord, key: AnalysisKey, spacing: StoredSpacing?, byteCount: Int?,
                     fileIdentity: FileIdentity = FileIdentity(), run: RunHandle, replace: Bool) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let warnings = String(decoding: try encoder.encode(record.warnings), as: UTF8.self)
        let features = try record.nodules.map { String(decoding: try encoder.encode($0.features), as: UTF8.self) }
        let stamp = record.pipeline ?? PipelineStamp(name: "", version: "", digest: key.pipelineDigest)
        try queue.write { db in
            let study = try Self.upsertStudy(db, issuer: record.patientIssuer, patientID: record.patientID, date: record.studyDate)
            try db.execute(sql: """
                INSERT INTO images (path, sha256, byte_count, width, height, spacing_row_mm, spacing_column_mm,
                                    spacing_source, study, patient_source, date_source,
                                    file_patient_id, file_patient_issuer, file_study_date)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (path, sha256) DO UPDATE SET
                    byte_count = excluded.byte_count, width = excluded.width, height = excluded.height,
                    spacing_row_mm = excluded.spacing_row_mm, spacing_column_mm = excluded.spacing_column_mm,
                    spacing_source = excluded.spacing_source, study = excluded.study,
                    patient_source = excluded.patient_source, date_source = excluded.date_source
                """, arguments: [record.path, key.sha256, byteCount, record.width, record.height,
                                 spacing?.rowMM ?? record.pixelSpacingMM, spacing?.columnMM ?? record.pixelSpacingMM,
                                 record.spacingSource, study, record.patientSource, record.dateSource,
                                 fileIdentity.patientID, fileIdentity.patientIssuer, fileIdentity.studyDate])
            let image = try Int64.fetchOne(db, sql: "SELECT id FROM images WHERE path = ? AND sha256 = ?",
                                           arguments: [record.path, key.sha256])!
            try db.execute(sql: "DELETE FROM image_errors WHERE path = ? AND pipeline_digest = ?",
                           arguments: [record.path, key.pipelineDigest])
            let existing = try Int64.fetchOne(db, sql: """
                SELECT id FROM analyses WHERE image = ? AND pipeline_digest = ? AND spacing_key = ?
                """, arguments: [image, key.pipelineDigest, key.spacingKey])
            if let existing {
                if !replace { return }
                try db.execute(sql: "DELETE FROM analyses WHERE id = ?", arguments: [existing])
            }
            try db.execute(sql: """
                INSERT INTO analyses (image, pipeline_name, pipeline_version, pipeline_digest, spacing_key, run, run_uuid,
                                      warnings, completed_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [image, stamp.name, stamp.version, key.pipelineDigest, key.spacingKey, run.id, run.uuid,
                                 warnings, Self.now()])
            let analysis = db.lastInsertedRowID
            for (rank, n) in record.nodules.enumerated() {
                try db.execute(sql: """
                    INSERT INTO detections (analysis, image, run, rank, x, y, diameter_px, diameter_mm, score, features)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [analysis, image, run.id, rank, n.x, n.y, n.diameterPx, n.diameterMM, n.score, features[rank]])
            }
        }
    }

    /// Records (or replaces) the error of one file under a pipeline, in its own transaction.
    public func saveFailure(path: String, sha256: String?, pipelineDigest: String, code: String, message: String,
                            run: RunHandle) throws {
        try queue.write { db in
            try db.execute(sql: """
                INSERT INTO image_errors (path, sha256, pipeline_digest, run, run_uuid, code, message, recorded_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT (path, pipeline_digest) DO UPDATE SET
                    sha256 = excluded.sha256, run = excluded.run, run_uuid = excluded.run_uuid,
                    code = excluded.code, message = excluded.message, recorded_at = excluded.recorded_at
                """, arguments: [path, sha256, pipelineDigest, run.id, run.uuid, code, message, Self.now()])
        }
    }

    /// Errors recorded under `pipelineDigest`: `(path, code, message)`, by path.
    public func errors(pipelineDigest: String) throws -> [(path: String, code: String, message: String)] {
        try queue.read { db in
            try Row.fetchAll(db, sql: "SELECT path, code, message FROM image_errors WHERE pipeline_digest = ? ORDER BY path",
                             arguments: [pipelineDigest]).map { ($0["path"], $0["code"], $0["message"]) }
        }
    }

    static func upsertStudy(_ db: Database, issuer: String?, patientID: String?, date: String?) throws -> Int64? {
        guard let patientID, !patientID.isEmpty else { return nil }
        try db.execute(sql: "INSERT INTO patients (issuer, patient_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                       arguments: [issuer ?? "", patientID])
        let patient = try Int64.fetchOne(db, sql: "SELECT id FROM patients WHERE issuer = ? AND patient_id = ?",
                                         arguments: [issuer ?? "", patientID])!
        try db.execute(sql: "INSERT INTO studies (patient, study_date) VALUES (?, ?) ON CONFLICT DO NOTHING",
                       arguments: [patient, date ?? ""])
        return try Int64.fetchOne(db, sql: "SELECT id FROM studies WHERE patient = ? AND study_date = ?",
                                  arguments: [patient, date ?? ""])
    }
}

// MARK: - Reading results back

/// A stored analysis, as the detection-contract fields that depend only on the content.
public struct StoredAnalysis: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var spacing: StoredSpacing?
    public var spacingSource: String
    public var byteCount: Int?
    public var fileIdentity: FileIdentity
    public var pipeline: PipelineStamp
    public var nodules: [NoduleCandidate]
    public var warnings: [String]
}

extension NoduleStore {
    /// The stored result for `key`, from any path holding that content; `nil` when none.
    public func analysis(for key: AnalysisKey) throws -> StoredAnalysis? {
        try queue.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT a.id, a.pipeline_name, a.pipeline_version, a.warnings, i.width, i.height, i.spacing_row_mm,
                       i.spacing_column_mm, i.spacing_source, i.byte_count,
                       i.file_patient_id, i.file_patient_issuer, i.file_study_date
                FROM analyses a JOIN images i ON i.id = a.image
                WHERE i.sha256 = ? AND a.pipeline_digest = ? AND a.spacing_key = ?
                ORDER BY a.id LIMIT 1
                """, arguments: [key.sha256, key.pipelineDigest, key.spacingKey]) else { return nil }
            let analysis: Int64 = row["id"]
            let rowMM: Double? = row["spacing_row_mm"], columnMM: Double? = row["spacing_column_mm"]
            return StoredAnalysis(
                width: row["width"], height: row["height"],
                spacing: rowMM.flatMap { r in columnMM.map { StoredSpacing(rowMM: r, columnMM: $0) } },
                spacingSource: row["spacing_source"], byteCount: row["byte_count"],
                fileIdentity: FileIdentity(patientID: row["file_patient_id"], patientIssuer: row["file_patient_issuer"],
                                           studyDate: row["file_study_date"]),
                pipeline: PipelineStamp(name: row["pipeline_name"], version: row["pipeline_version"], digest: key.pipelineDigest),
                nodules: try Self.nodules(db, analysis: analysis),
                warnings: Self.warnings(row["warnings"]))
        }
    }

    /// An analysis's `warnings` column (a JSON array of strings) as stored; [] if it is not one.
    static func warnings(_ json: String) -> [String] {
        (try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? []
    }

    static func nodules(_ db: Database, analysis: Int64) throws -> [NoduleCandidate] {
        let decoder = JSONDecoder()
        return try Row.fetchAll(db, sql: """
            SELECT x, y, diameter_px, diameter_mm, score, features FROM detections WHERE analysis = ? ORDER BY rank
            """, arguments: [analysis]).map { row in
            let features: String = row["features"]
            return NoduleCandidate(x: row["x"], y: row["y"], diameterPx: row["diameter_px"], diameterMM: row["diameter_mm"],
                                   score: row["score"],
                                   features: try decoder.decode(NoduleFeatures.self, from: Data(features.utf8)))
        }
    }
}
