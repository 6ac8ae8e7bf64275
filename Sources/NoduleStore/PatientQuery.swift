import Foundation
import GRDB
import NoduleDetection

/// One patient's stored exams, oldest first: what serial tracking consumes.
public struct PatientHistory: Sendable, Equatable {
    /// `nil` when no issuer is known.
    public var issuer: String?
    public var patientID: String
    /// Studies by date ascending; a study of unknown date (`date == nil`) comes last.
    public var studies: [StudyImages]

    public init(issuer: String?, patientID: String, studies: [StudyImages]) {
        self.issuer = issuer
        self.patientID = patientID
        self.studies = studies
    }
}

/// The images of one study with their detections.
public struct StudyImages: Sendable, Equatable {
    /// `YYYY-MM-DD`, or `nil` when unknown.
    public var date: String?
    /// Images by path.
    public var images: [ImageDetections]

    public init(date: String?, images: [ImageDetections]) {
        self.date = date
        self.images = images
    }
}

/// One stored image and the detections of one pipeline on it.
public struct ImageDetections: Sendable, Equatable {
    public var path: String
    public var sha256: String
    /// Columns and rows, px.
    public var width: Int
    public var height: Int
    public var spacing: StoredSpacing?
    public var spacingSource: String
    /// Candidates, highest score first, px of the input image (mm where the spacing is known).
    public var detections: [NoduleCandidate]
    /// The detection record's warnings (decoding notes, unknown or doubtful spacing, lung field).
    public var warnings: [String]

    public init(path: String, sha256: String, width: Int, height: Int, spacing: StoredSpacing?, spacingSource: String,
                detections: [NoduleCandidate], warnings: [String] = []) {
        self.path = path
        self.sha256 = sha256
        self.width = width
        self.height = height
        self.spacing = spacing
        self.spacingSource = spacingSource
        self.detections = detections
        self.warnings = warnings
    }
}

extension NoduleStore {
    /// Detections of the pipeline with `pipelineDigest`, grouped by patient (by issuer, then ID)
    /// and study date (ascending). Images without a patient are not included.
    public func detectionsByPatient(pipelineDigest: String) throws -> [PatientHistory] {
        try queue.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT p.issuer, p.patient_id, s.study_date, i.path, i.sha256, i.width, i.height,
                       i.spacing_row_mm, i.spacing_column_mm, i.spacing_source, MIN(a.id) AS analysis, a.warnings
                FROM analyses a
                JOIN images i ON i.id = a.image
                JOIN studies s ON s.id = i.study
                JOIN patients p ON p.id = s.patient
                WHERE a.pipeline_digest = ?
                GROUP BY i.id
                ORDER BY p.issuer, p.patient_id, s.study_date = '', s.study_date, i.path
                """, arguments: [pipelineDigest])
            var out: [PatientHistory] = []
            for row in rows {
                let issuer: String = row["issuer"], patientID: String = row["patient_id"], date: String = row["study_date"]
                let rowMM: Double? = row["spacing_row_mm"], columnMM: Double? = row["spacing_column_mm"]
                let image = ImageDetections(
                    path: row["path"], sha256: row["sha256"], width: row["width"], height: row["height"],
                    spacing: rowMM.flatMap { r in columnMM.map { StoredSpacing(rowMM: r, columnMM: $0) } },
                    spacingSource: row["spacing_source"],
                    detections: try Self.nodules(db, analysis: row["analysis"]),
                    // SQLite takes a bare column of a MIN() aggregate from the row holding the minimum.
                    warnings: Self.warnings(row["warnings"]))
                let issuerValue: String? = issuer.isEmpty ? nil : issuer
                let dateValue: String? = date.isEmpty ? nil : date
                if out.last?.issuer != issuerValue || out.last?.patientID != patientID {
                    out.append(PatientHistory(issuer: issuerValue, patientID: patientID, studies: []))
                }
                if out[out.count - 1].studies.last.map({ $0.date != dateValue }) ?? true {
                    out[out.count - 1].studies.append(StudyImages(date: dateValue, images: []))
                }
                let last = out[out.count - 1].studies.count - 1
                out[out.count - 1].studies[last].images.append(image)
            }
            return out
        }
    }

    /// Pipeline digests with stored analyses, with how many images each covers.
    public func pipelineDigests() throws -> [(digest: String, images: Int)] {
        try queue.read { db in
            try Row.fetchAll(db, sql: """
                SELECT pipeline_digest, COUNT(DISTINCT image) FROM analyses GROUP BY pipeline_digest ORDER BY pipeline_digest
                """).map { ($0[0], $0[1]) }
        }
    }
}
