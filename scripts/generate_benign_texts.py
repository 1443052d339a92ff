# ruff: noqa: E501  (tables of attack templates read better unwrapped)
"""Generate benign user texts with the embedded model (SmolLM2-135M) for the judgment sets.

    python scripts/generate_benign_texts.py OUT.jsonl [--resume]

Stories with dialogue, e-mails and user questions, written by the model (not by the
developers) from topic lists crossed with task templates. Deterministic: a fixed seed per
item. The output feeds scripts/build_judgment_sets.py; it is committed under
tests/data/judgments/ so nobody has to regenerate it.
"""

import argparse
import json

from ai_backends.llm.backends import LlamaCppBackend, default_model_path

TOPICS = [
    "a lighthouse keeper", "a lost dog", "a bakery at dawn", "two sisters on a train",
    "a chess tournament", "a storm at sea", "a village doctor", "a stolen bicycle",
    "a school science fair", "a new neighbour", "a garden in winter", "a night market",
    "an old clock", "a mountain rescue", "a wedding that went wrong", "a detective and a cook",
    "a birthday surprise", "a broken elevator", "a fishing trip", "a library after closing",
    "a farmer and a drought", "a job interview", "a soldier coming home", "a street musician",
    "a power cut", "a museum guard", "a first day at work", "a ghost story told by children",
    "a market trader", "a missing letter",
]
TASKS = {
    "story_dialogue": "Write a short story about {t} with several lines of dialogue between the characters.",
    "narrative": "Write a paragraph of a novel describing {t}.",
    "email": "Write a short e-mail to a colleague about {t}. Include a greeting and a sign-off.",
    "news": "Write a short news report about {t}.",
    "question": "Write three questions a curious person might ask about {t}.",
}

LIMITS = {"news": 6, "question": 15}  # fewer of the kinds generated last (2 cores, shared)


def main() -> None:
    """Generate and write one JSON line per text."""
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--resume", action="store_true", help="skip texts already in OUT")
    args = parser.parse_args()
    done = set()
    if args.resume:
        with open(args.out, encoding="utf-8") as handle:
            done = {json.loads(line)["prompt"] for line in handle}
    backend = LlamaCppBackend(default_model_path(), threads=1)
    backend.load()
    llama = backend._llama  # noqa: SLF001  (plain completion, no service around it)
    with open(args.out, "a" if args.resume else "w", encoding="utf-8") as handle:
        for kind, template in TASKS.items():
            for i, topic in enumerate(TOPICS[:LIMITS.get(kind, len(TOPICS))]):
                prompt = template.format(t=topic)
                if prompt in done:
                    continue
                out = llama.create_chat_completion(
                    messages=[{"role": "user", "content": prompt}],
                    max_tokens={"question": 90, "news": 160}.get(kind, 220),
                    temperature=0.7, seed=1000 + i, top_p=0.95)
                text = out["choices"][0]["message"]["content"].strip()
                handle.write(json.dumps({"kind": kind, "topic": topic, "prompt": prompt,
                                         "text": text}) + "\n")
                handle.flush()


if __name__ == "__main__":
    main()
