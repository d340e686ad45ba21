package simulator_test

import (
	"context"
	"fmt"
	"log"

	openai "github.com/sashabaranov/go-openai"

	"github.com/sgde-project/sgde/internal/simulator"
)

// Example starts the simulator in-process, the way tests of the runtime and compiler do, and
// asks it a question through go-openai.
func Example() {
	path, err := simulator.LocateDefaultKnowledge() // testdata/gsm-hard/slice.jsonl
	if err != nil {
		log.Fatal(err)
	}
	know, err := simulator.LoadKnowledgeFile(path)
	if err != nil {
		log.Fatal(err)
	}
	cfg := simulator.NewConfig(know, simulator.DefaultProfile()).WithSeed(1)
	srv, err := simulator.Start(context.Background(), "127.0.0.1:0", cfg)
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	oc := openai.DefaultConfig("unused")
	oc.BaseURL = srv.URL() // http://127.0.0.1:PORT/v1
	client := openai.NewClientWithConfig(oc)
	resp, err := client.CreateChatCompletion(context.Background(), openai.ChatCompletionRequest{
		Model: cfg.ModelName(), // "slm-1.5b"
		Messages: []openai.ChatCompletionMessage{{
			Role:    openai.ChatMessageRoleUser,
			Content: "Write a Python program def solution() in a ```python block.\n\n" + know.Record(1).Input,
		}},
		Temperature: 0.000001, // go-openai omits 0; anything below 1e-5 decodes greedily
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.Choices[0].Message.Content)
	// Output:
	// ```python
	// def solution():
	//     blue_fiber = 2287720
	//     white_fiber = blue_fiber / 2
	//     total_fiber = blue_fiber + white_fiber
	//     result = total_fiber
	//     return result
	// ```
}
