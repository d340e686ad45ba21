package simulator

import (
	"context"
	"testing"

	openai "github.com/sashabaranov/go-openai"
)

// BenchmarkChatCompletionLoopback measures requests/s of the simulator over loopback with
// go-openai: a direct-answer request (n=1) and a consensus-style program request (n=5), each on a
// different known question per iteration, so that recognition scans a realistic prompt.
func BenchmarkChatCompletionLoopback(b *testing.B) {
	k := slice(b)
	srv := startSim(b, NewConfig(k, DefaultProfile()))
	c := goClient(srv, "x")
	for _, bc := range []struct {
		name, prefix string
		n            int
	}{
		{"direct_n1", "Solve the problem. Respond with only the number.\n\n", 1},
		{"program_n5", "Write a Python program def solution() and return it in a ```python block.\n\n", 5},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				seed := i
				_, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
					Model: "slm-1.5b", N: bc.n, Seed: &seed, Temperature: 0.7,
					Messages: []openai.ChatCompletionMessage{
						{Role: "system", Content: "You are a careful math tutor."},
						{Role: "user", Content: bc.prefix + k.Record(i%k.Len()).Input},
					},
				})
				if err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
		})
	}
}

// BenchmarkChatCompletionLoopbackParallel is the direct n=1 request from GOMAXPROCS client
// goroutines at once, as the demo sends them.
func BenchmarkChatCompletionLoopbackParallel(b *testing.B) {
	k := slice(b)
	srv := startSim(b, NewConfig(k, DefaultProfile()))
	c := goClient(srv, "x")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			seed := i
			_, err := c.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
				Model: "slm-1.5b", Seed: &seed, Temperature: 0.7,
				Messages: []openai.ChatCompletionMessage{{Role: "user", Content: k.Record(i % k.Len()).Input}},
			})
			if err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// BenchmarkFind measures question recognition alone on a long few-shot prompt.
func BenchmarkFind(b *testing.B) {
	k := slice(b)
	prompt := ""
	for i := range 8 {
		prompt += "Q: " + k.Record(i).Input + "\nA: 42\n\n"
	}
	prompt += "Q: " + k.Record(399).Input + "\nA:"
	norm := normalize(prompt)
	b.SetBytes(int64(len(prompt)))
	for b.Loop() {
		if i, ok := k.find(norm, prompt); !ok || i != 399 {
			b.Fatal("not found")
		}
	}
}

// BenchmarkGenerate measures one in-process request (prompt analysis, recognition, draws and
// rendering, no HTTP) on an 8-shot prompt with n=5.
func BenchmarkGenerate(b *testing.B) {
	k := slice(b)
	m := &Model{k: k, p: DefaultProfile()}
	var msgs []message
	msgs = append(msgs, message{"system", "Solve the problem. End with the line Answer: <number>."})
	for i := range 8 {
		msgs = append(msgs, message{"user", k.Record(i).Input}, message{"assistant", "Answer: " + formatNumber(k.Record(i).Target)})
	}
	msgs = append(msgs, message{"user", k.Record(399).Input})
	seed := int64(1)
	req := &chatRequest{model: "slm-1.5b", messages: msgs, n: 5, temperature: 0.7, seed: &seed, format: "text"}
	b.ReportAllocs()
	for b.Loop() {
		if _, e := m.generate(req, 0); e != nil {
			b.Fatal(e)
		}
	}
}
