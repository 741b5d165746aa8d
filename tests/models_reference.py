"""Build every case of the models tier and say whether its Keras reference can fail (JSON on stdout).

    python tests/models_reference.py [NAME_SUBSTRING ...]     # TensorFlow; keras_hub for the KerasHub cases

Each case is built exactly as a conversion worker builds it (:func:`conformance.worker.pipeline.build_case`:
seeded, inputs drawn, the reference taken at both batch sizes).  Per case: the reference guard's problems
(``degenerate``: the DEGENERATE status's reasons), the distinct top-1 classes over all the images of both
batches (classifiers), whether the second batch's reference differs from the first sample's of the main
batch, the input shapes of both batches, and the build time; or why it did not build (``not_applicable``:
keras_hub missing, ``error``).  A script (run in a subprocess) so that the tests never import TensorFlow.
"""
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(only: list[str]) -> None:
    import warnings

    import numpy as np

    from cases.api import CaseNotApplicable
    from conformance.loader import builtin_modules, load_cases
    from conformance.worker.pipeline import build_case

    warnings.simplefilter("ignore")
    out = {}
    for case in load_cases([m for m in builtin_modules() if m.startswith("cases.models.")]):
        if only and not any(o in case.name for o in only):
            continue
        t0 = time.perf_counter()
        try:
            built = build_case(case)
        except CaseNotApplicable as exc:
            out[case.name] = {"not_applicable": str(exc)}
            continue
        except Exception as exc:
            out[case.name] = {"error": f"{type(exc).__name__}: {exc}"[:2000]}
            continue
        main_refs, second_refs = built.batches[0].refs, built.batches[1].refs
        top1 = []
        if "classifier" in case.tags:
            top1 = sorted({int(i) for refs in (main_refs, second_refs) for i in np.argmax(refs[0], axis=1)})
        second_differs = [bool(np.asarray(s).shape[1:] != np.asarray(m).shape[1:]
                               or not np.allclose(np.asarray(s)[0], np.asarray(m)[0], rtol=1e-4, atol=1e-5))
                          for m, s in zip(main_refs, second_refs)]
        out[case.name] = {"degenerate": built.degenerate, "top1": top1, "second_differs": second_differs,
                          "outputs": [n for n, _, _ in built.outputs],
                          "input_shapes": [[list(a.shape) for a in b.arrays] for b in built.batches],
                          "params": int(built.model.count_params()), "seconds": round(time.perf_counter() - t0, 1)}
        print(f"{case.name}: {json.dumps(out[case.name])[:300]}", file=sys.stderr, flush=True)
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1:])
