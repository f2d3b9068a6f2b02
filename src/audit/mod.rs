//! Ledger reports: where the quota went, from the store or from log files.
