// Package notifier sends email operations and failure alerts over SMTP.
package notifier
