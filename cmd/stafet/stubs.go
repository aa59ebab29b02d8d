package main

import (
	"context"
	"errors"
)

func cmdTranslate(ctx context.Context, e env) error { return errors.New("translate: not wired yet") }
func cmdSimulate(ctx context.Context, e env) error  { return errors.New("simulate: not wired yet") }
func cmdBench(ctx context.Context, e env) error     { return errors.New("bench: not wired yet") }
