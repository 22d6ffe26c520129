package ingress_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/triggerflow/triggerflow/internal/testrig/natstest"
)

// rawHandler is the naive limit the ingress is measured against: HTTP + JSON + base64 +
// xml.Unmarshal + one synchronous JetStream publish, nothing else (no auth, no metrics, no
// logging, no validation beyond what decoding does).
type rawHandler struct{ js nats.JetStreamContext }

type rawTicket struct {
	ID         string `xml:"id"`
	Subject    string `xml:"subject"`
	CreateDate string `xml:"createDate"`
	UpdateDate string `xml:"updateDate"`
	Current    struct {
		ID   string `xml:"id"`
		Name string `xml:"name"`
	} `xml:"current_stage"`
	Completion struct {
		ID   string `xml:"id"`
		Name string `xml:"name"`
	} `xml:"completion_data>stage"`
	OpenRequest struct {
		ID   string `xml:"id"`
		Name string `xml:"name"`
	} `xml:"open_request_stage"`
}

func (h rawHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var in struct {
		TicketInfo string `json:"ticket_info"`
		Event      string `json:"event"`
		Args       string `json:"args"`
		Script     string `json:"script"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	x, err := base64.StdEncoding.DecodeString(in.TicketInfo)
	if err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	var t rawTicket
	if err := xml.Unmarshal(x, &t); err != nil {
		http.Error(w, err.Error(), 400)
		return
	}
	out, _ := json.Marshal(struct {
		Event  string
		Ticket rawTicket
		Raw    string
		Args   string
	}{in.Event, t, string(x), in.Args})
	msg := nats.NewMsg("scw.trigger." + strings.ToLower(in.Event) + "." + t.ID)
	msg.Data = out
	if _, err := h.js.PublishMsg(msg, nats.MsgId(in.Event+"."+t.ID+"."+t.UpdateDate)); err != nil {
		http.Error(w, err.Error(), 503)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"output":"stored"}`))
}

// startRaw serves rawHandler on its own listener, publishing into the same server.
func startRaw(b *testing.B, natsURL string) string {
	nc := natstest.Connect(b, natsURL)
	js, err := nc.JetStream()
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: rawHandler{js}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	b.Cleanup(func() { _ = srv.Close() })
	return "http://" + ln.Addr().String()
}

// load sends requests from c workers and records each latency.
type load struct {
	client *http.Client
	seq    atomic.Int64
	xml    string
}

func (l *load) body() []byte {
	n := l.seq.Add(1)
	x := strings.Replace(l.xml, "<updateDate>1763884860000", "<updateDate>"+strconv.FormatInt(1763884860000+n, 10), 1)
	return mediatorBody("ADVANCE", x, "--env prod", "/opt/trigger-service/test.py")
}

// run sends n requests to url with concurrency c; it returns the elapsed time and latencies.
func (l *load) run(b *testing.B, url string, n, c int) (time.Duration, []time.Duration) {
	var (
		wg   sync.WaitGroup
		next atomic.Int64
		mu   sync.Mutex
		lats = make([]time.Duration, 0, n)
		fail atomic.Value
	)
	start := time.Now()
	for w := 0; w < c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, n/c+1)
			for next.Add(1) <= int64(n) {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(l.body()))
				req.SetBasicAuth(testUser, testPassword)
				req.Header.Set("Content-Type", "application/json")
				t0 := time.Now()
				res, err := l.client.Do(req)
				if err != nil {
					fail.Store(err.Error())
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					fail.Store(fmt.Sprintf("status %d", res.StatusCode))
					return
				}
				local = append(local, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if f := fail.Load(); f != nil {
		b.Fatalf("request failed: %v", f)
	}
	return time.Since(start), lats
}

func pct(l []time.Duration, p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[int(float64(len(l)-1)*p)]
}

// BenchmarkIngressVsRaw measures the ingress over real HTTP into a file-backed JetStream at
// concurrency 1, 16 and 64, side by side with the naive raw handler on the same server in
// the same run: the b.N requests alternate between the two in chunks, so machine noise hits
// both alike. Reported: req/s, p50 and p99 of each, and ratio = ingress req/s / raw req/s.
func BenchmarkIngressVsRaw(b *testing.B) {
	x, err := os.ReadFile("../../examples/tickets/advance.xml")
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("c%d", c), func(b *testing.B) {
			s := natstest.RunJetStream(b) // file storage, t.TempDir()
			g := startIngress(b, s.ClientURL(), nil)
			raw := startRaw(b, s.ClientURL())
			l := &load{xml: string(x), client: &http.Client{Transport: &http.Transport{
				MaxIdleConns: 256, MaxIdleConnsPerHost: 256, DisableCompression: true,
			}}}
			// warm up both (connections, JIT of the stream's file store)
			l.run(b, raw, 200, c)
			l.run(b, g.URL+"/trigger_file", 200, c)

			chunk := 500
			var dRaw, dIng time.Duration
			var latRaw, latIng []time.Duration
			nRaw, nIng := 0, 0
			b.ResetTimer()
			for done, k := 0, 0; done < b.N; k++ {
				n := min(chunk, b.N-done)
				if k%2 == 0 {
					d, lat := l.run(b, raw, n, c)
					dRaw, latRaw, nRaw = dRaw+d, append(latRaw, lat...), nRaw+n
				} else {
					d, lat := l.run(b, g.URL+"/trigger_file", n, c)
					dIng, latIng, nIng = dIng+d, append(latIng, lat...), nIng+n
				}
				done += n
			}
			b.StopTimer()
			if nRaw == 0 || nIng == 0 {
				return // b.N too small for both (the first probe run)
			}
			rawRate := float64(nRaw) / dRaw.Seconds()
			ingRate := float64(nIng) / dIng.Seconds()
			b.ReportMetric(ingRate, "ingress_req/s")
			b.ReportMetric(rawRate, "raw_req/s")
			b.ReportMetric(ingRate/rawRate, "ratio")
			b.ReportMetric(float64(pct(latIng, 0.50).Microseconds()), "ingress_p50_µs")
			b.ReportMetric(float64(pct(latIng, 0.99).Microseconds()), "ingress_p99_µs")
			b.ReportMetric(float64(pct(latRaw, 0.50).Microseconds()), "raw_p50_µs")
			b.ReportMetric(float64(pct(latRaw, 0.99).Microseconds()), "raw_p99_µs")
			b.ReportMetric(0, "ns/op")
		})
	}
}
