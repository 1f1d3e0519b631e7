"""Fluency with llama.cpp in a worker process: the mean NLL per token of a text under a GGUF.

A server's echoed logprobs are slow on llama.cpp, so ``--judge-fluency-gguf`` scores locally
with the same model file (one backend helper of :mod:`kgsynth.evaluation.judge`).
"""

from __future__ import annotations

import json
from pathlib import Path

from kgsynth.errors import ConfigError


class LlamaScorer:
    """NLL of texts under a GGUF, computed by :mod:`kgsynth.evaluation.llama_score` in the llama Python.

    Same weights and the same llama.cpp as the server, without the server's per-token
    Python sort of the vocabulary (seconds per token on a 152k vocabulary).
    """

    def __init__(self, model_path: Path, threads: int = 1) -> None:
        import subprocess

        from kgsynth.generation.llm_server import llama_python

        self.model_path = model_path
        script = Path(__file__).with_name("llama_score.py")
        self.proc = subprocess.Popen([llama_python(), str(script), str(model_path), "--threads", str(threads)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True)
        if json.loads(self._line()).get("ready") is not True:
            raise ConfigError(f"the llama.cpp scorer could not load {model_path}")

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise ConfigError(f"the llama.cpp scorer for {self.model_path} exited (code {self.proc.poll()})")
        return line

    def nll(self, text: str) -> tuple[float, int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"text": text}) + "\n")
        self.proc.stdin.flush()
        out = json.loads(self._line())
        return float(out["nll"]), int(out["tokens"])

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=30)
            except Exception:  # noqa: BLE001 - a stuck worker is killed
                self.proc.kill()
