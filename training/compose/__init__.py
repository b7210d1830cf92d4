"""The robot dataset generator, compositional: intent x slots x surface operators.

* ``quantities``: value pools per canonical unit (training and held-out values) and the many ways a
  person writes one quantity ("2 m", "two metres", "2m", "1,500 mm", "1 foot 6 inches", "pi/2 rad");
* ``intents``: what a command asks for (a plan of steps, a stop, a query, a memory reference, a
  reply and its reason) and its canonical answer in language v2 (``core/language.py``);
* ``surface``: how each intent can be said (verbs, direction phrases, amount/time/speed chunks,
  plan connectors, fixed utterances), each choice named and split into training and held-out sets;
* ``operators``: what people do around a command (fillers, politeness, preambles, vocatives, clause
  reordering, typos, casing, emoji) and what changes its meaning (corrections, negations,
  hypotheticals, questions about motion, stop words inside a motion);
* ``tasks``: one sampler per task, combining the above into a candidate (command, answer, intended
  meaning, provenance);
* ``builder``: filters (quality detectors, length, the grammar's copy rule, parse-back to the
  intended plan, ROUGE-L near-duplicates), splits with held-out choices, rows and stats.

``training/make_dataset.py`` is the command line over ``builder``.
"""
