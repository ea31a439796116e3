// Prints one plain closing line, "N passed, N failed", that CI reads whatever the runner.
class SummaryReporter {
  onRunComplete(_contexts, results) {
    console.log(
      `\njest: ${results.numPassedTests} passed, ${results.numFailedTests} failed, ${results.numPendingTests} skipped`,
    );
  }
}
module.exports = SummaryReporter;
