"""The catalog: what can be recommended (vocabulary of codes, import, candidates, recommendation rows).

Private to `customers`; other apps reach it through `customers.services` and the dataclasses of `customers.data`.
"""
