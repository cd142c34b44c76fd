"""Compare the temperature in <cities>

name: compare_temperature
signature: run(cities: Sequence[str] = ('Paris', 'Oslo')) -> dict
task: Compare the temperature in Paris and Oslo
session: 20261130-195506-9afc
step: 1
created: 2026-11-30T19:55:07Z
model: examples/compare-weather.txt
version: 1
arguments: {"cities":["Paris","Oslo"]}
"""

from typing import Sequence

def run(cities: Sequence[str]=('Paris', 'Oslo')) -> dict:
    from tools.demo import get_weather
    cities = list(cities)
    report = {}
    for city in cities:
        report[city] = get_weather(city=city)['temperature']
    return report
