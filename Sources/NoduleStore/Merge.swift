import Foundation
import GRDB

/// What one merge added to the destination store.
public struct MergeReport: Sendable, Equatable {
    public var runs = 0
    public var patients = 0
    public var studies = 0
    public var images = 0
    public var analyses = 0
    public var detections = 0
    public var errors = 0

    public init() {}

    public static func + (a: MergeReport, b: MergeReport) -> MergeReport {
        var r = a
        r.runs += b.runs; r.patients += b.patients; r.studies += b.studies; r.images += b.images
        r.analyses += b.analyses; r.detections += b.detections; r.errors += b.errors
        return r
    }
}

extension NoduleStore {
    /// Copies every row of the store at `sourcePath` that this store lacks, matching rows by
    /// their natural keys (never by row id), in one transaction. Idempotent: merging the same
    /// store twice, or stores that overlap, adds nothing the second time.
    ///
    /// Conflicts keep what this store already has: an analysis with the same
    /// (path, content, pipeline, spacing) key is not replaced, so detections are never mixed.
    /// An error row is dropped when some store holds a result for that path and pipeline.
    /// The source is migrated to the current schema first.
    @discardableResult
    public func merge(from sourcePath: String) throws -> MergeReport {
        guard FileManager.default.fileExists(atPath: sourcePath) else { throw StoreError.notFound(path: sourcePath) }
        let mine = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        if URL(fileURLWithPath: sourcePath).resolvingSymlinksInPath().path == mine {
            throw StoreError.mergeIntoItself(path: sourcePath)
        }
        _ = try NoduleStore(path: sourcePath)  // migrate, and recover a WAL left by a killed writer

        return try queue.writeWithoutTransaction { db in
            try db.execute(sql: "ATTACH DATABASE ? AS src", arguments: [sourcePath])
            defer { try? db.execute(sql: "DETACH DATABASE src") }
            var report = MergeReport()
            try db.inTransaction {
                func run(_ sql: String) throws -> Int {
                    try db.execute(sql: sql)
                    return db.changesCount
                }
                report.runs = try run("""
                    INSERT OR IGNORE INTO runs (uuid, pipeline_name, pipeline_version, pipeline_digest, parameters, tool_version,
                                                input, shard, started_at, ended_at, status, images_ok, images_resumed, images_failed)
                    SELECT uuid, pipeline_name, pipeline_version, pipeline_digest, parameters, tool_version,
                           input, shard, started_at, ended_at, status, images_ok, images_resumed, images_failed
                    FROM src.runs ORDER BY id
                    """)
                report.patients = try run("""
                    INSERT OR IGNORE INTO patients (issuer, patient_id)
                    SELECT issuer, patient_id FROM src.patients ORDER BY id
                    """)
                report.studies = try run("""
                    INSERT OR IGNORE INTO studies (patient, study_date)
                    SELECT p.id, s.study_date FROM src.studies s
                    JOIN src.patients sp ON sp.id = s.patient
                    JOIN main.patients p ON p.issuer = sp.issuer AND p.patient_id = sp.patient_id
                    ORDER BY s.id
                    """)
                report.images = try run("""
                    INSERT OR IGNORE INTO images (path, sha256, byte_count, width, height, spacing_row_mm, spacing_column_mm,
                                                  spacing_source, study, patient_source, date_source,
                                                  file_patient_id, file_patient_issuer, file_study_date)
                    SELECT i.path, i.sha256, i.byte_count, i.width, i.height, i.spacing_row_mm, i.spacing_column_mm,
                           i.spacing_source,
                           (SELECT st.id FROM main.studies st JOIN main.patients p ON p.id = st.patient
                            WHERE p.issuer = sp.issuer AND p.patient_id = sp.patient_id AND st.study_date = ss.study_date),
                           i.patient_source, i.date_source, i.file_patient_id, i.file_patient_issuer, i.file_study_date
                    FROM src.images i
                    LEFT JOIN src.studies ss ON ss.id = i.study
                    LEFT JOIN src.patients sp ON sp.id = ss.patient
                    ORDER BY i.id
                    """)
                let before = try Int64.fetchOne(db, sql: "SELECT COALESCE(MAX(id), 0) FROM main.analyses") ?? 0
                report.analyses = try run("""
                    INSERT OR IGNORE INTO analyses (image, pipeline_name, pipeline_version, pipeline_digest, spacing_key,
                                                    run, run_uuid, warnings, completed_at)
                    SELECT mi.id, a.pipeline_name, a.pipeline_version, a.pipeline_digest, a.spacing_key,
                           (SELECT r.id FROM main.runs r WHERE r.uuid = a.run_uuid), a.run_uuid, a.warnings, a.completed_at
                    FROM src.analyses a
                    JOIN src.images si ON si.id = a.image
                    JOIN main.images mi ON mi.path = si.path AND mi.sha256 = si.sha256
                    ORDER BY a.id
                    """)
                // Detections only for analyses this merge added, so an existing analysis is never mixed.
                report.detections = try run("""
                    INSERT OR IGNORE INTO detections (analysis, image, run, rank, x, y, diameter_px, diameter_mm, score, features)
                    SELECT ma.id, ma.image, ma.run, d.rank, d.x, d.y, d.diameter_px, d.diameter_mm, d.score, d.features
                    FROM src.detections d
                    JOIN src.analyses a ON a.id = d.analysis
                    JOIN src.images si ON si.id = a.image
                    JOIN main.images mi ON mi.path = si.path AND mi.sha256 = si.sha256
                    JOIN main.analyses ma ON ma.image = mi.id AND ma.pipeline_digest = a.pipeline_digest
                                          AND ma.spacing_key = a.spacing_key
                    WHERE ma.id > \(before)
                    ORDER BY d.analysis, d.rank
                    """)
                report.errors = try run("""
                    INSERT OR IGNORE INTO image_errors (path, sha256, pipeline_digest, run, run_uuid, code, message, recorded_at)
                    SELECT e.path, e.sha256, e.pipeline_digest, (SELECT r.id FROM main.runs r WHERE r.uuid = e.run_uuid),
                           e.run_uuid, e.code, e.message, e.recorded_at
                    FROM src.image_errors e
                    WHERE NOT EXISTS (SELECT 1 FROM main.analyses a JOIN main.images i ON i.id = a.image
                                      WHERE i.path = e.path AND a.pipeline_digest = e.pipeline_digest)
                    ORDER BY e.id
                    """)
                try db.execute(sql: """
                    DELETE FROM main.image_errors WHERE EXISTS (
                        SELECT 1 FROM main.analyses a JOIN main.images i ON i.id = a.image
                        WHERE i.path = image_errors.path AND a.pipeline_digest = image_errors.pipeline_digest)
                    """)
                return .commit
            }
            return report
        }
    }
}
