package simulator

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/stafet/stafet/projections"
)

// Rules returns Stafet's default deadline rules (projections.DefaultRules)
// compressed to the time scale of a simulation (simulated minutes per
// second, as ModelOptions.TimeScale), for stafetd -rules: every deadline
// is divided by the same factor as the model's time, so that with a time
// scale of 60 the 4 h to accept municipal care is 4 s and a day is 24 s,
// and gaps open within a minute. Business-hours clocks count every hour
// instead: a working day has no meaning in compressed time. A time scale
// of zero means real time and returns the rules unchanged.
func Rules(timeScale float64) ([]byte, error) {
	if timeScale < 0 {
		return nil, fmt.Errorf("simulator: time scale %v: want simulated minutes per second ≥ 0", timeScale)
	}
	r := projections.DefaultRules()
	if timeScale > 0 {
		factor := timeScale * 60
		for name, rule := range r.Deadlines {
			rule.After = projections.Duration(time.Duration(float64(rule.After) / factor).Round(time.Millisecond))
			rule.Clock = projections.CalendarClock
			rule.Source = "compressed ×" + fmt.Sprint(factor) + " by the simulator: " + rule.Source
			r.Deadlines[name] = rule
		}
	}
	if err := r.Validate(); err != nil {
		return nil, fmt.Errorf("simulator: compressed rules: %w", err)
	}
	return json.MarshalIndent(r, "", "  ")
}
