# The monitor in a container: `monitor` is the entry point (see docker-compose.yml for
# the distributed mode: Redis, one writer, N workers).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md scrapy.cfg ./
COPY monitor ./monitor
COPY spiders ./spiders
RUN pip install --no-cache-dir .
# monitor.yaml, rules/ and the database live in a mounted folder
WORKDIR /srv/monitor
ENTRYPOINT ["monitor"]
CMD ["--help"]
