"""The behaviour every tracking store must show, as test mixins.

Each module holds one ``*Contract`` class whose tests take a ``store`` fixture (an
empty ``TrackingStore`` holding only the Default experiment). ``tests/store/
test_contract.py`` binds all of them to every backend; a new backend joins by being
added to the backend list there. The classes are not named ``Test*``, so pytest does
not collect them on their own.
"""
