package main

import (
	"context"
	"errors"
)

func cmdSimulate(ctx context.Context, e env) error { return errors.New("simulate: not wired yet") }
func cmdBench(ctx context.Context, e env) error    { return errors.New("bench: not wired yet") }
