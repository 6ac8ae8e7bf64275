import Foundation
import GRDB

/// A pipeline whose analyses the store holds, with what `nodules track` needs
/// to redo its normalisation: the definition recorded by the runs that used it.
public struct StoredPipeline: Sendable, Equatable {
    public var name: String
    public var version: String
    public var digest: String
    /// Images with an analysis under this pipeline.
    public var images: Int
    /// The `parameters` JSON of the latest run with this digest (`{"pipeline": {...}, ...}`,
    /// see `nodules batch`), or nil when no run recorded it (e.g. runs deleted).
    public var runParameters: String?
}

extension NoduleStore {
    /// Every pipeline with stored analyses, by digest.
    public func storedPipelines() throws -> [StoredPipeline] {
        try queue.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT a.pipeline_digest AS digest, MIN(a.pipeline_name) AS name, MIN(a.pipeline_version) AS version,
                       COUNT(DISTINCT a.image) AS images,
                       (SELECT r.parameters FROM runs r WHERE r.pipeline_digest = a.pipeline_digest ORDER BY r.id DESC LIMIT 1) AS parameters
                FROM analyses a GROUP BY a.pipeline_digest ORDER BY a.pipeline_digest
                """)
            return rows.map { row in
                StoredPipeline(name: row["name"], version: row["version"], digest: row["digest"], images: row["images"],
                               runParameters: row["parameters"])
            }
        }
    }
}
