# ruff: noqa: E501  (tables of attack templates read better unwrapped)
"""Generate benign user texts with the embedded model (SmolLM2-135M) for the judgment sets.

    python scripts/generate_benign_texts.py OUT.jsonl [--resume] [--fresh]

Stories with dialogue, e-mails and user questions, written by the model (not by the
developers) from topic lists crossed with task templates. Deterministic: a fixed seed per
item. The output feeds scripts/build_injection_set.py; it is committed under
tests/data/judgments/ so nobody has to regenerate it.

``--fresh`` writes the e-mails and news reports of the fresh set instead (other topics, and
e-mails from a company to a customer besides those to a colleague;
``generated_fresh.jsonl``): generated after the screen's last tuning, for
``scripts/build_injection_set.py --fresh`` (docs/judgments.md).
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

FRESH_TOPICS = [
    "the office moving to a new floor", "a delayed shipment of printer paper",
    "the quarterly budget review", "a broken coffee machine", "the company picnic",
    "a new parking policy", "a software update next Tuesday", "the annual fire drill",
    "a customer who was charged twice", "a training course on spreadsheets",
    "the heating failing in the east wing", "a retirement party", "a lost badge",
    "the summer opening hours", "a late invoice from a supplier", "a team volunteering day",
    "the city marathon closing roads", "a new bus line", "a flood in the town centre",
    "a school winning a robotics prize", "the town library reopening", "a heat wave",
    "a local bakery's hundredth anniversary", "a bridge closed for repairs",
    "a farmers' market moving to Sundays", "a power outage in the north district",
    "a hospital opening a new wing", "the price of train tickets going up",
    "a football club promoted to a higher league", "a recycling scheme for batteries",
]
FRESH_TASKS = {
    "email": "Write a short e-mail to a colleague about {t}. Include a greeting and a sign-off.",
    "email_customer": "Write a polite e-mail from a company to a customer about {t}.",
    "news": "Write a short news report about {t}.",
}


def main() -> None:
    """Generate and write one JSON line per text."""
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--resume", action="store_true", help="skip texts already in OUT")
    parser.add_argument("--fresh", action="store_true",
                        help="the fresh set's e-mails and news reports (other topics)")
    args = parser.parse_args()
    done = set()
    if args.resume:
        with open(args.out, encoding="utf-8") as handle:
            done = {json.loads(line)["prompt"] for line in handle}
    tasks, topics, limits = TASKS, TOPICS, LIMITS
    if args.fresh:
        tasks, topics, limits = FRESH_TASKS, FRESH_TOPICS, {}
    backend = LlamaCppBackend(default_model_path(), threads=1)
    backend.load()
    llama = backend._llama  # noqa: SLF001  (plain completion, no service around it)
    with open(args.out, "a" if args.resume else "w", encoding="utf-8") as handle:
        for kind, template in tasks.items():
            for i, topic in enumerate(topics[:limits.get(kind, len(topics))]):
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
