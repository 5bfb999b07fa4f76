#include "app/explorer/session.h"

#include "core/param_rules.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSaveFile>

namespace tsa::app {

namespace {

// Stored absolute and relative to the session; the relative one wins when it exists.
QString resolvePath(const QJsonObject& root, const QString& key, const QDir& base) {
    const QString absolute = root.value(key).toString();
    const QString relative = root.value(key + QStringLiteral("_relative")).toString();
    const QString fromRelative =
        relative.isEmpty() ? QString() : QDir::cleanPath(base.absoluteFilePath(relative));
    if (!fromRelative.isEmpty() && QFileInfo::exists(fromRelative)) return fromRelative;
    return absolute.isEmpty() ? fromRelative : absolute;
}

} // namespace

QByteArray sessionToJson(const Session& session, const QString& sessionPath) {
    const QDir base = QFileInfo(sessionPath).absoluteDir();
    QJsonObject params = toJson(session.params);
    insertViewState(&params, session.viewState);
    QJsonObject root{
        {QStringLiteral("format"), QStringLiteral("tsa-explorer-session")},
        {QStringLiteral("version"), kSessionVersion},
        {QStringLiteral("params"), params},
    };
    if (!session.filePath.isEmpty()) {
        root.insert(QStringLiteral("file"), QFileInfo(session.filePath).absoluteFilePath());
        root.insert(QStringLiteral("file_relative"),
                    base.relativeFilePath(QFileInfo(session.filePath).absoluteFilePath()));
    }
    if (!session.effectPath.isEmpty()) {
        root.insert(QStringLiteral("effect"), QFileInfo(session.effectPath).absoluteFilePath());
        root.insert(QStringLiteral("effect_relative"),
                    base.relativeFilePath(QFileInfo(session.effectPath).absoluteFilePath()));
    }
    return QJsonDocument(root).toJson(QJsonDocument::Indented);
}

bool saveSession(const QString& path, const Session& session, QString* error) {
    QSaveFile file(path);
    const QByteArray bytes = sessionToJson(session, path);
    if (!file.open(QIODevice::WriteOnly) || file.write(bytes) != bytes.size() || !file.commit()) {
        if (error) *error = QObject::tr("Cannot write the session %1: %2").arg(path, file.errorString());
        return false;
    }
    return true;
}

std::optional<Session> sessionFromJson(const QByteArray& json, const QString& sessionPath, QString* error) {
    auto fail = [&](const QString& why) -> std::optional<Session> {
        if (error) *error = QObject::tr("%1 is not a usable session file: %2").arg(sessionPath, why);
        return std::nullopt;
    };
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(json, &parseError);
    if (doc.isNull())
        return fail(parseError.errorString() + QObject::tr(" at byte %1").arg(parseError.offset));
    if (!doc.isObject()) return fail(QObject::tr("the top level is not a JSON object"));
    const QJsonObject root = doc.object();
    if (root.value(QStringLiteral("format")).toString() != QLatin1String("tsa-explorer-session"))
        return fail(QObject::tr("\"format\" is not \"tsa-explorer-session\""));
    const int version = root.value(QStringLiteral("version")).toInt(0);
    if (version < 1 || version > kSessionVersion)
        return fail(QObject::tr("version %1 is not supported (this build reads 1 to %2)")
                        .arg(version)
                        .arg(kSessionVersion));
    const QString absolute = root.value(QStringLiteral("file")).toString();
    const QString relative = root.value(QStringLiteral("file_relative")).toString();
    const bool hasEffect = !root.value(QStringLiteral("effect")).toString().isEmpty() ||
                           !root.value(QStringLiteral("effect_relative")).toString().isEmpty();
    if (absolute.isEmpty() && relative.isEmpty() && !hasEffect)
        return fail(QObject::tr("it names no capture file"));

    Session session;
    const QDir base = QFileInfo(sessionPath).absoluteDir();
    const QString fromRelative =
        relative.isEmpty() ? QString() : QDir::cleanPath(base.absoluteFilePath(relative));
    // The relative path wins when it exists: a folder moved or copied elsewhere keeps working.
    if (!fromRelative.isEmpty() && QFileInfo::exists(fromRelative))
        session.filePath = fromRelative;
    else
        session.filePath = absolute.isEmpty() ? fromRelative : absolute;
    if (hasEffect) session.effectPath = resolvePath(root, QStringLiteral("effect"), base);
    // The same rules as the command lines and the controls (core/param_rules.h): a session with a value
    // they refuse is refused with the reason, not silently altered.
    // Other values (a method name, a knob) are kept as stored; the controller adjusts them with a warning.
    session.params = readParamsJson(root.value(QStringLiteral("params")).toObject());
    std::string problem = tsa::tsaParamsProblem(session.params.tsa);
    if (problem.empty()) problem = tsa::layerPlanProblem(session.params.plan);
    if (!problem.empty()) return fail(QString::fromStdString(problem));
    session.viewState = viewStateFromJson(root.value(QStringLiteral("params")).toObject());
    return session;
}

std::optional<Session> loadSession(const QString& path, QString* error) {
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        if (error) *error = QObject::tr("Cannot read the session %1: %2").arg(path, file.errorString());
        return std::nullopt;
    }
    return sessionFromJson(file.readAll(), path, error);
}

} // namespace tsa::app
