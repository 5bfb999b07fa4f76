// Session files: the capture, every parameter and what is being looked at (view, layer, head), as JSON,
// so a colleague can reopen exactly the same picture. The capture path is stored absolute and relative
// to the session file; loading prefers whichever exists, so a folder moved as a whole still works.
#pragma once

#include "app/explorer/explorer_params.h"

#include <QString>
#include <optional>

namespace tsa::app {

struct Session {
    QString filePath;   // the capture; may be empty when the session holds only an effect file
    QString effectPath; // the effect file beside it (or alone), empty when none
    ExplorerParams params;
    ViewState viewState; // stored among the params' keys, as before the split
};

constexpr int kSessionVersion = 1;

QByteArray sessionToJson(const Session& session, const QString& sessionPath);
bool saveSession(const QString& path, const Session& session, QString* error);
// Errors name the file and what is wrong with it.
std::optional<Session> loadSession(const QString& path, QString* error);
std::optional<Session> sessionFromJson(const QByteArray& json, const QString& sessionPath, QString* error);

} // namespace tsa::app
