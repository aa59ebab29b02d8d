package alerts

import (
	"bufio"
	"net/http"
	"strconv"
	"time"

	"github.com/stafet/stafet/engine"

	"github.com/stafet/stafet/events"
)

// ServeSSE streams alerts as server-sent events: org's alerts, or every
// organisation's when all is set (the operator). Each event's id is the
// alert's sequence in the alert stream, its name the alert kind, its data
// the alert's JSON. A client that reconnects with Last-Event-ID (or the
// query parameter last_event_id, for clients that cannot set headers)
// gets the alerts after that one; a new client gets alerts from now on.
// Repeated "kind" query parameters narrow the stream to those kinds. A
// comment line goes out every Config.Heartbeat so proxies keep the
// connection open. It returns when the client goes away.
//
// ServeSSE does not authenticate: the caller decides org and all from
// the request's credentials (Routes does).
func (s *Service) ServeSSE(w http.ResponseWriter, r *http.Request, org events.OrgID, all bool) {
	ctx := r.Context()
	kinds, err := kindsParam(r)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, "kind", err.Error())
		return
	}
	start, resume, err := resumeAfter(r)
	if err != nil {
		writeProblem(w, r, http.StatusBadRequest, "Last-Event-ID", "want the id of an event of this stream (an integer)")
		return
	}
	if !resume {
		if start, err = s.stream.LastSeq(ctx); err != nil {
			writeProblem(w, r, http.StatusServiceUnavailable, "", "the alert stream did not answer; retry")
			return
		}
	}
	msgs := make(chan engine.Entry, 64)
	stop, err := s.stream.Follow(ctx, storedFilters(org, all, kinds), start+1, func(e engine.Entry) {
		select {
		case msgs <- e:
		case <-ctx.Done():
		}
	})
	if err != nil {
		writeProblem(w, r, http.StatusServiceUnavailable, "", "the alert stream did not answer; retry")
		return
	}
	defer stop()

	rc := http.NewResponseController(w)
	rc.SetWriteDeadline(time.Time{}) // a stream outlives the server's write timeout
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 4096)
	send := func(parts ...string) bool {
		for _, p := range parts {
			bw.WriteString(p)
		}
		if bw.Flush() != nil || rc.Flush() != nil {
			s.m.failures.WithLabelValues(channelSSE, outcomeDisconnected).Inc()
			return false
		}
		return true
	}
	// The consumer exists now: alerts from here on are not missed.
	if !send("retry: 3000\n: stafet alerts from ", strconv.FormatUint(start+1, 10), "\n\n") {
		return
	}
	tick := time.NewTicker(s.cfg.Heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if !send(": heartbeat\n\n") {
				return
			}
		case e := <-msgs:
			if !send("id: ", strconv.FormatUint(e.Seq, 10), "\nevent: ", string(kindOf(e.Subject)), "\ndata: ", string(e.Data), "\n\n") {
				return
			}
			s.m.deliveries.WithLabelValues(channelSSE).Inc()
		}
	}
}

// resumeAfter returns the Last-Event-ID the client gave, if any. "0"
// asks for every alert the stream still holds.
func resumeAfter(r *http.Request) (uint64, bool, error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, false, nil
	}
	seq, err := strconv.ParseUint(v, 10, 64)
	return seq, err == nil, err
}
