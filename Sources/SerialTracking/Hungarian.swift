/// Globally optimal assignment (Kuhn–Munkres, the Hungarian method with
/// potentials), O(n²·m) for an n × m matrix with n ≤ m; rectangular input is
/// transposed as needed.
public enum HungarianAssignment {
    /// For each row, the assigned column or nil.
    ///
    /// Entries that are not finite (e.g. `.infinity`) are forbidden pairs. The
    /// result first maximises the number of allowed pairs, then minimises their
    /// total cost (a forbidden pair is replaced by a cost larger than any sum of
    /// allowed ones, then dropped).
    public static func solve(_ cost: [[Double]]) -> [Int?] {
        let n = cost.count
        guard n > 0 else { return [] }
        let m = cost[0].count
        precondition(cost.allSatisfy { $0.count == m }, "cost matrix rows must have equal length")
        guard m > 0 else { return [Int?](repeating: nil, count: n) }
        var finiteSum = 0.0, minimum = 0.0
        for row in cost { for c in row where c.isFinite { finiteSum += abs(c); minimum = min(minimum, c) } }
        let big = (finiteSum + 1) * Double(n + m + 1)
        func entry(_ i: Int, _ j: Int) -> Double { let c = cost[i][j]; return c.isFinite ? c - minimum : big }
        if n <= m {
            let rowToColumn = solveRowsNotMoreThanColumns(rows: n, columns: m, entry)
            return rowToColumn.enumerated().map { i, j in j.flatMap { cost[i][$0].isFinite ? $0 : nil } }
        }
        let columnToRow = solveRowsNotMoreThanColumns(rows: m, columns: n) { entry($1, $0) }
        var out = [Int?](repeating: nil, count: n)
        for (j, i) in columnToRow.enumerated() { if let i, cost[i][j].isFinite { out[i] = j } }
        return out
    }

    /// Total cost and number of pairs of an assignment (forbidden pairs never appear in `solve`'s output).
    public static func total(_ cost: [[Double]], _ assignment: [Int?]) -> (cost: Double, pairs: Int) {
        var c = 0.0, k = 0
        for (i, j) in assignment.enumerated() { if let j { c += cost[i][j]; k += 1 } }
        return (c, k)
    }

    /// The classic potentials formulation (1-based internally), every row assigned.
    private static func solveRowsNotMoreThanColumns(rows n: Int, columns m: Int, _ a: (Int, Int) -> Double) -> [Int?] {
        var u = [Double](repeating: 0, count: n + 1), v = [Double](repeating: 0, count: m + 1)
        var p = [Int](repeating: 0, count: m + 1), way = [Int](repeating: 0, count: m + 1)
        for i in 1...n {
            p[0] = i
            var j0 = 0
            var minv = [Double](repeating: .infinity, count: m + 1)
            var used = [Bool](repeating: false, count: m + 1)
            repeat {
                used[j0] = true
                let i0 = p[j0]
                var delta = Double.infinity, j1 = 0
                for j in 1...m where !used[j] {
                    let cur = a(i0 - 1, j - 1) - u[i0] - v[j]
                    if cur < minv[j] { minv[j] = cur; way[j] = j0 }
                    if minv[j] < delta { delta = minv[j]; j1 = j }
                }
                for j in 0...m {
                    if used[j] { u[p[j]] += delta; v[j] -= delta } else { minv[j] -= delta }
                }
                j0 = j1
            } while p[j0] != 0
            repeat {
                let j1 = way[j0]
                p[j0] = p[j1]
                j0 = j1
            } while j0 != 0
        }
        var out = [Int?](repeating: nil, count: n)
        for j in 1...m where p[j] != 0 { out[p[j] - 1] = j - 1 }
        return out
    }
}
