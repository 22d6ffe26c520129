package ingress

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"

	"github.com/triggerflow/triggerflow/internal/config"
)

// Server is the ingress's HTTP listener.
type Server struct {
	cfg  config.Ingress
	log  *slog.Logger
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
}

// NewServer wraps h in an http.Server with the configured limits.
func NewServer(cfg config.Ingress, h http.Handler, log *slog.Logger) *Server {
	return &Server{cfg: cfg, log: log, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}}
}

// Start listens (failing at once if the address is taken) and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("ingress.listen %s: %w", s.cfg.Listen, err)
	}
	s.ln, s.done = ln, make(chan struct{})
	scheme := "http"
	if s.cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	s.log.Info("ingress listening", "url", fmt.Sprintf("%s://%s%s", scheme, ln.Addr(), s.cfg.Path),
		"raw_endpoint", "/v1/triggers/{EVENT}", "users", len(s.cfg.Users))
	go func() {
		defer close(s.done)
		var err error
		if s.cfg.TLS.CertFile != "" {
			err = s.srv.ServeTLS(ln, s.cfg.TLS.CertFile, s.cfg.TLS.KeyFile)
		} else {
			err = s.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("ingress server stopped", "err", err)
		}
	}()
	return nil
}

// Addr is the address actually listened on (useful with port 0).
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Stop stops accepting and waits for in-flight requests (each ends only after its
// publish was acknowledged or timed out) up to ingress.shutdown_timeout.
func (s *Server) Stop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.log.Warn("ingress drain cut short", "err", err)
		_ = s.srv.Close()
	}
	<-s.done
	s.log.Info("ingress stopped")
	return nil
}
