"""The channel interface every alert destination implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType

from monitor.models import Alert, FollowUp, Notice


class Channel(ABC):
    """A destination for alerts (console, email, Slack, webhook).

    A channel gets alerts that are ready to render and delivers them; it knows nothing of
    rules or crawling. Sending is synchronous and may block for up to the channel's
    timeout. Channels are safe to share between threads.

    Attributes:
        name: the channel's name from monitor.yaml (used in logs and error messages).
    """

    name: str

    @abstractmethod
    def send(self, alert: Alert) -> str | None:
        """Deliver one alert.

        Args:
            alert: the alert to deliver.

        Returns:
            A reference to the message sent, where follow-ups can thread (a Slack
            post's ``ts``), when the channel keeps one; else None.

        Raises:
            DeliveryError: the alert was not delivered; ``retry_after`` and ``permanent``
                say whether and when to try again.
        """

    @abstractmethod
    def send_digest(self, alerts: Sequence[Alert], title: str,
                    followups: Sequence[FollowUp] = ()) -> None:
        """Deliver several alerts as one message. An empty sequence sends nothing.

        Args:
            alerts: the alerts, in the order to show them.
            title: the digest's heading (e.g. "Daily digest: North Korea").
            followups: follow-ups to show as compact lines, given only to a channel
                whose ``followups_in_digest`` is True (the others never get any).

        Raises:
            DeliveryError: as for :meth:`send`.
        """

    #: True when this channel cannot reply in a thread on its own, so follow-ups
    #: (:meth:`send_followup`) ride in its next digest as compact lines instead.
    followups_in_digest: bool = False

    def send_followup(self, followup: FollowUp) -> str | None:
        """Add more outlets of a story to its first alert's thread ("+N outlets: ...").

        Args:
            followup: the story's first alert and the outlets added since.

        Returns:
            None.

        Raises:
            DeliveryError: as for :meth:`send`; this default, for channels that cannot
                thread, raises a permanent one.
        """
        from monitor.errors import DeliveryError

        raise DeliveryError(f"channel {self.name!r} cannot send follow-ups", permanent=True)

    def send_notice(self, notice: Notice) -> None:
        """Deliver a notice (source health, a spike: :class:`monitor.models.Notice`).

        Raises:
            DeliveryError: as for :meth:`send`; this default, for channels that cannot
                show notices, raises a permanent one.
        """
        from monitor.errors import DeliveryError

        raise DeliveryError(f"channel {self.name!r} cannot send notices", permanent=True)

    def close(self) -> None:  # noqa: B027 - a no-op unless a channel holds connections
        """Release network resources (connection pools). Safe to call more than once."""

    def __enter__(self) -> Channel:
        return self

    def __exit__(self, exc_type: type[BaseException] | None,
                 exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
