// Package itsmsync performs itsm and securechange operations: it renders each
// operation's WFI template, sends it to its outbound server (auth, TLS, rate limit,
// concurrency cap, circuit breaker; one consumer per server so a slow or failing server
// delays no other), retries transient failures through JetStream honouring Retry-After,
// records success in scw_done so nothing is sent twice, maps responses into
// scw_correlation and SecureChange write-backs, and publishes one result per operation.
package itsmsync
